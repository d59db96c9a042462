"""Static leaderboard site builder."""
