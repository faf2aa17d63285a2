"""The monthly bulletin (issue 16): the month's ranking, its biggest changes, the cases and
the policy changes, in English, Arabic or Sorani, as HTML or a PDF printed from it."""
