"""What the devtools window shows, without Qt: the envelope log of the bridge."""
