"""L2 mode of the speaker: ARP/NDP announcing, data-plane heartbeats, election and fencing.

Modules: ``frames`` (frame building/parsing), ``wire`` (raw-socket seam + fake), ``interfaces``
(usable interfaces, netlink link watcher), ``announcer`` (responder + gratuitous schedule),
``metrics``; see ``docs/l2.md``.
"""
