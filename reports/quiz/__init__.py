"""The human "real or fake?" quiz: the deck of held-out images, a session, the web app, and the answers file."""
