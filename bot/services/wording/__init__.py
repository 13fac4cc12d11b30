"""How Aftercare's own values read to clinicians, in the clinicians' catalogue: a check-in's
name, the domain's refusals (its English templates, marked here and said with `C_`)."""
