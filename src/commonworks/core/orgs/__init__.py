"""Organizations (enterprises, service providers, the platform operator, government): the tenants."""
