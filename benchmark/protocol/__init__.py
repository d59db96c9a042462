"""Protocol recboard-v1: task data from a Dataset."""
