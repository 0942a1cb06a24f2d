"""Deaths that pass through the list, tuple and dict deallocators from a
subclass or a C type built on them, the way real apps make them.

Every path builds its objects, drops them in one go and answers "ok";
a worker that dies answers nothing. /all runs every shape. DEPTH (query
string) sets the chain depth, default 2000: CPython's trashcan must bound
the recursion, and the deallocation of a subclass instance runs its own
type's deallocator first (subtype_dealloc, odict_dealloc), then the base's.
"""
import collections
import gc


class AttrDict(dict):
    pass


class MyList(list):
    pass


class MyTuple(tuple):
    pass


class Node:
    def __init__(self, nxt, payload):
        self.nxt = nxt
        self.payload = payload


def payload_counter(i):
    return collections.Counter({"a": i, "b": i})


def payload_odict(i):
    return collections.OrderedDict(a=i, b=i)


def payload_attrdict(i):
    return AttrDict(a=i)


def payload_list(i):
    return MyList([i, i])


def payload_tuple(i):
    return MyTuple((i, i))


PAYLOADS = {"counter": payload_counter, "odict": payload_odict, "attrdict": payload_attrdict,
            "list": payload_list, "tuple": payload_tuple}


def chain_of_holders(depth, payload):
    """Objects each holding a subclass instance: the issue's reproducer."""
    head = None
    for i in range(depth):
        head = Node(head, payload(i))
    return head


def nested_subclasses(depth):
    """Subclass instances nested directly in each other, all kinds mixed."""
    head = None
    for i in range(depth):
        kind = i % 5
        if kind == 0:
            head = AttrDict(nxt=head)
        elif kind == 1:
            head = MyList([head])
        elif kind == 2:
            head = MyTuple((head,))
        elif kind == 3:
            head = collections.OrderedDict(nxt=head)
        else:
            head = [collections.Counter(n=i), head]
    return head


def odict_of_odicts(depth):
    head = collections.OrderedDict()
    for _ in range(depth):
        head = collections.OrderedDict(nxt=head)
    return head


def namedtuples(n):
    """A namedtuple class created per request, its instances nested and dropped."""
    point = collections.namedtuple("Point", ["x", "y"])
    head = None
    for i in range(n):
        head = point(i, head)
    return head


def wide(n):
    """Many subclass instances under one container, each a little deep."""
    return [[AttrDict(v=MyList([MyTuple((i,))])), collections.OrderedDict(k=i)]
            for i in range(n)]


class Phoenix(dict):
    """Resurrects itself once from __del__, while its chain is dying."""
    saved = []

    def __del__(self):
        if not self.get("reborn"):
            self["reborn"] = True
            Phoenix.saved.append(self)


def resurrection(depth):
    head = None
    for i in range(depth):
        head = Node(head, Phoenix(i=i))
    del head
    saved, Phoenix.saved = Phoenix.saved, []
    return saved  # dropped by the caller: their second death


def cycles(depth):
    """Chains of subclass holders closed into cycles: only the gc frees them."""
    for make in PAYLOADS.values():
        head = chain_of_holders(depth, make)
        node = head
        while node.nxt is not None:
            node = node.nxt
        node.nxt = head  # the cycle
        del head, node
    return gc.collect()


def everything(depth):
    for make in PAYLOADS.values():
        chain_of_holders(depth, make)
    nested_subclasses(depth)
    odict_of_odicts(depth)
    namedtuples(depth)
    wide(depth)
    resurrection(depth)
    cycles(depth)


ROUTES = {
    "/chain/counter": lambda d: chain_of_holders(d, payload_counter),
    "/chain/odict": lambda d: chain_of_holders(d, payload_odict),
    "/chain/attrdict": lambda d: chain_of_holders(d, payload_attrdict),
    "/chain/list": lambda d: chain_of_holders(d, payload_list),
    "/chain/tuple": lambda d: chain_of_holders(d, payload_tuple),
    "/nested": nested_subclasses,
    "/odicts": odict_of_odicts,
    "/namedtuple": namedtuples,
    "/wide": wide,
    "/resurrect": resurrection,
    "/cycles": cycles,
    "/all": everything,
}


def application(environ, start_response):
    route = ROUTES.get(environ["PATH_INFO"])
    if route is None:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"routes: " + " ".join(ROUTES).encode() + b"\n"]
    depth = int(environ.get("QUERY_STRING") or 2000)
    route(depth)  # built and dropped here
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]
