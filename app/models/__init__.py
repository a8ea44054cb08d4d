"""VRM inspection and the user-data model store."""
