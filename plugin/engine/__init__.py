"""The engine: many work items through image preparation, Gemini and parsing, concurrently."""
