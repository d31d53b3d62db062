-- Schema 4: topic analytics views (warehouse/views/*.sql; applied after every migration).
SELECT 1;
