"""The HTTP layer: app factory, dependencies, error mapping and one router per resource."""
