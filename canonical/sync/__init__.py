"""Sync back: what each system should hold (the golden record, through its write-back fields) minus what
it holds (as last read) is the change set; `plan` computes it, `deliver` sends it and logs each field."""
