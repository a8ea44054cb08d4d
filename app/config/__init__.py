"""The app's settings: one versioned model (:mod:`app.config.model`), its file (:mod:`app.config.store`) and the
service that applies changes while the app runs (:mod:`app.config.service`)."""
