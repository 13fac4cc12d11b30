"""What the console's larger forms read: each turns posted fields into values or errors by field."""
