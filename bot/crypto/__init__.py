"""Envelope encryption of what identifies or exposes a patient (issue 31): a data key per
patient, wrapped by a key-encryption key from the environment (`keys`), and each value sealed
with AES-GCM under the patient's data key, bound to what it is (`envelope`). Pure: no I/O."""
