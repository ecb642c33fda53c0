"""BGP mode of the speaker: ExaBGP supervision, its process API, and route application."""
