"""speaker: announces assigned IPs (L2: ARP/NDP; BGP: ExaBGP, BFD)."""
