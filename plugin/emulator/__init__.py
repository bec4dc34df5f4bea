"""A local, Gemini-compatible HTTP server that really looks at the images it receives."""
