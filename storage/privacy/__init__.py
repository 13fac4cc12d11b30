"""What the store does for a patient's privacy (issue 31): erasing their words and contacts."""
