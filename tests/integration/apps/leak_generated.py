"""Leaks through code generated at run time. /dataclass keeps a dataclass
instance per request (its __init__ is compiled from a string: file
"<string>"); /orm adds an order to an ORM session that is never committed
nor closed (SQLAlchemy compiles its models' constructors from strings too).
The application line that calls the generated code is where each leaks."""
from dataclasses import dataclass, field

from sqlalchemy import Column, Integer, String, create_engine
from sqlalchemy.orm import Session, declarative_base


@dataclass
class Event:
    user: str
    tags: list = field(default_factory=list)


Base = declarative_base()


class Order(Base):
    __tablename__ = "orders"
    id = Column(Integer, primary_key=True)
    sku = Column(String(64))


AUDIT = []
SESSION = Session(create_engine("sqlite://"), autoflush=False)


def application(environ, start_response):
    n = environ["QUERY_STRING"].partition("=")[2]
    if environ["PATH_INFO"] == "/dataclass":
        AUDIT.append(Event(n * 8, ["web", n]))  # DATACLASS-LINE
    else:
        SESSION.add(Order(sku=n * 8))  # ORM-LINE
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]
