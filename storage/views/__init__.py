"""Read-only queries behind what people look at: listings, timelines, charts, reports."""
