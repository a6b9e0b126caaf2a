from .app import Router


def register(r: Router) -> None:
    pass
