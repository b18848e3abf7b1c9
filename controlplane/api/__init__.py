"""Wire contracts shared by more than one component. A leaf package: it imports nothing of ours."""
