"""A clinic administering itself: its settings, roster, team, audit log and exports."""
