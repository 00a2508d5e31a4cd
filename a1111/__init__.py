"""The one A1111 HTTP client, its errors, and the messages a user gets from them."""
