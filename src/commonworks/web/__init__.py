"""The web UI (NiceGUI on the same FastAPI app)."""


def mount(app, settings) -> None:  # type: ignore[no-untyped-def]
    from commonworks.web.pages import mount as _mount

    _mount(app, settings)
