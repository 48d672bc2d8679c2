"""Storage backends behind core.ports.ThreadStore."""
