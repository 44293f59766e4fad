"""A small stand-in for @dataclass.

dataclasses imports inspect, ~13 ms at every start; every berth command pays start-up time,
so typed value objects use this instead.  Supports defaults, field(default_factory=...),
frozen=True, __post_init__, equality, repr and asdict().
"""

from __future__ import annotations

_MISSING = object()


class _Field:
    __slots__ = ("default", "default_factory")

    def __init__(self, default: object = _MISSING, default_factory: object = _MISSING) -> None:
        self.default = default
        self.default_factory = default_factory


def field(*, default: object = _MISSING, default_factory: object = _MISSING) -> object:
    return _Field(default, default_factory)


def _fields_of(cls: type) -> list[tuple[str, object, object]]:
    out: dict[str, tuple[str, object, object]] = {}
    for klass in reversed(cls.__mro__):
        for name in klass.__dict__.get("__annotations__", {}):
            if name.startswith("__") or name == "_fields":
                continue
            val = klass.__dict__.get(name, _MISSING)
            if isinstance(val, _Field):
                out[name] = (name, val.default, val.default_factory)
            elif name not in out or val is not _MISSING:
                out[name] = (name, val, _MISSING)
    return list(out.values())


def record(cls: type | None = None, *, frozen: bool = False):
    def wrap(cls: type) -> type:
        fields = _fields_of(cls)
        names = tuple(f[0] for f in fields)
        for name, default, _ in fields:
            if isinstance(cls.__dict__.get(name), _Field):
                if default is _MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, default)

        def __init__(self, *args: object, **kwargs: object) -> None:
            if len(args) > len(fields):
                raise TypeError(f"{cls.__name__}() takes {len(fields)} positional arguments")
            for i, (name, default, factory) in enumerate(fields):
                if i < len(args):
                    val = args[i]
                    if name in kwargs:
                        raise TypeError(f"{cls.__name__}() got multiple values for {name!r}")
                elif name in kwargs:
                    val = kwargs.pop(name)
                elif factory is not _MISSING:
                    val = factory()
                elif default is not _MISSING:
                    val = default
                else:
                    raise TypeError(f"{cls.__name__}() missing required argument: {name!r}")
                object.__setattr__(self, name, val)
            if kwargs:
                raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {next(iter(kwargs))!r}")
            post = getattr(self, "__post_init__", None)
            if post is not None:
                post()

        def __repr__(self) -> str:
            return f"{cls.__name__}(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in names) + ")"

        def __eq__(self, other: object) -> bool:
            if other.__class__ is not self.__class__:
                return NotImplemented
            return all(getattr(self, n) == getattr(other, n) for n in names)

        cls.__init__ = __init__
        cls.__repr__ = __repr__
        cls.__eq__ = __eq__
        cls._fields = names
        if frozen:
            def __setattr__(self, name: str, value: object) -> None:
                raise AttributeError(f"cannot assign to field {name!r} of frozen {cls.__name__}")

            cls.__setattr__ = __setattr__
            cls.__hash__ = lambda self: hash(tuple(getattr(self, n) for n in names))
        else:
            cls.__hash__ = None
        return cls

    return wrap(cls) if cls is not None else wrap


def asdict(obj: object) -> dict:
    def conv(v: object) -> object:
        if hasattr(v, "_fields") and not isinstance(v, tuple):
            return {n: conv(getattr(v, n)) for n in v._fields}
        if isinstance(v, list):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(obj)


def replace(obj: object, **changes: object) -> object:
    kw = {n: getattr(obj, n) for n in obj._fields}
    kw.update(changes)
    return obj.__class__(**kw)


class cached_property:  # noqa: N801 - a drop-in for functools.cached_property
    """functools.cached_property without functools, which imports collections (~1.2 ms of every
    start).  The value is computed on first access and stored in the instance's __dict__."""

    def __init__(self, func) -> None:  # noqa: ANN001
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: object, owner: type | None = None):  # noqa: ANN204
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.func(obj)
        return value
