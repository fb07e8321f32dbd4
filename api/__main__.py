"""`python -m api`: serve the API with uvicorn on API_HOST:API_PORT."""

import uvicorn

from adapters.logs import configure_logging
from adapters.settings import get_settings
from adapters.tracing import configure_tracing

if __name__ == "__main__":
    settings = get_settings()
    configure_logging(settings, process="api")
    configure_tracing(settings, process="api")
    uvicorn.run(
        "api.main:app",
        factory=True,
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
    )
