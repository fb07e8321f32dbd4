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
        # the same proxies the rate limits trust (read from .env too, which uvicorn's own
        # FORWARDED_ALLOW_IPS environment lookup would miss)
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
