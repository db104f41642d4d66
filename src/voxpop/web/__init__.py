"""HTTP: routes, JSON API, pages, middleware, static files. Maps errors to responses."""
