"""The shipped recipes and scenarios (YAML), installed as package data `glade.recipes`."""
