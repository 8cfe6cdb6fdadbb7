"""The HTTP service: a JSON API for programs and server-rendered pages for people, over the services."""
