"""The core's revisions (label ``hub``); each plugin keeps its own in its package."""
