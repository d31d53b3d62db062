"""A wire story and an outlet's long "about us" block, shared by the partial-copy tests."""

WIRE = [
    "Port authorities in Gdansk said on Monday that grain shipments through the terminal rose "
    "by a third in October, the highest monthly figure since the corridor reopened in spring.",
    "The increase came despite a week of storms that closed the outer harbour to large vessels, "
    "and officials credited new night-time loading shifts for clearing the backlog quickly.",
    "Farmers' groups in eastern Poland welcomed the figures but warned that storage capacity "
    "inland remains tight, with several silos still full from the summer harvest.",
    "A spokesperson for the terminal operator said two additional conveyor lines would come into "
    "service before the end of the year, raising capacity by roughly fifteen percent.",
    "Shipping analysts noted that freight rates on the Baltic routes have eased since September, "
    "making the port more competitive with terminals on the Black Sea coast.",
    "The agriculture ministry is expected to publish its own export estimates for the quarter "
    "next week, alongside a review of the rail links that feed the terminal from the south.",
    "Local councillors have asked for a study of noise from the night shifts, after residents "
    "of the nearby district complained about lorries arriving at the gates after midnight.",
    "Union representatives said the new shifts had been agreed with staff in advance and that "
    "overtime rates would apply until the additional conveyor lines were ready for service.",
]
BLOCK = (
    "About the Harbour Ledger. The Harbour Ledger is an independent newsroom covering ports, "
    "shipping and the coastal economy. Our reporting is paid for by readers, and no advertiser "
    "or owner has a say over what we publish. We correct our mistakes openly and explain every "
    "correction at the foot of the article it concerns. Republishing our articles in full needs "
    "written permission, but you may quote up to two paragraphs with a link to the original."
)
