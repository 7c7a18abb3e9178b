"""``fude serve``: a page where a person draws a character and sees the top guesses live, an HTTP API
(FastAPI; its OpenAPI schema is at ``/docs``), and collection of confirmed drawings into SQLite.

    app.py      create_app (settings, lifespan, limits, error handlers), run (uvicorn)
    routes.py   the routes: /api/predict, /api/samples, /api/models, /health, the page
    schemas.py  the request bodies
    samples.py  the sample database and its export as a training set
"""

from fude.serve.app import DEFAULT_MODELS, Settings, app_from_env, create_app, default_db, run

__all__ = ["DEFAULT_MODELS", "Settings", "app_from_env", "create_app", "default_db", "run"]
