"""The dashboard: the only part of grokdash that imports textual."""
