"""The Textual app: screens, widgets, palette commands, keymap, sanitising."""
