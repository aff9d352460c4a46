"""What people read: the report stage (tables, figures, HTML page) and the leaderboard of committed results."""
