"""The OpenAI vocabulary over HTTP: Assistants threads (Conversations next).

One JSON style and one error envelope for every OpenAI face.
"""
