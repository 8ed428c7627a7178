"""oslo.versionedobjects classes shaped like nova's, for the interop tests of
Rust's `versioned_object` module and of RPC interfaces written as traits.

An Instance 2.7 holds a Flavor 1.2 (nested object), a TagList 1.0 of Tag 1.1
(a list of objects), a datetime and a nullable datetime left None.
"""

import datetime

from oslo_versionedobjects import base
from oslo_versionedobjects import fields


class NovaObject(base.VersionedObject):
    OBJ_SERIAL_NAMESPACE = "nova_object"
    OBJ_PROJECT_NAMESPACE = "nova"


class NovaObjectSerializer(base.VersionedObjectSerializer):
    """What nova's RPC clients and servers use: objects travel as primitives."""

    OBJ_BASE_CLASS = NovaObject


@base.VersionedObjectRegistry.register
class Flavor(NovaObject):
    VERSION = "1.2"
    fields = {
        "flavorid": fields.StringField(),
        "memory_mb": fields.IntegerField(),
        "extra_specs": fields.DictOfStringsField(),
    }


@base.VersionedObjectRegistry.register
class Tag(NovaObject):
    VERSION = "1.1"
    fields = {"tag": fields.StringField()}


@base.VersionedObjectRegistry.register
class TagList(base.ObjectListBase, NovaObject):
    VERSION = "1.0"
    fields = {"objects": fields.ListOfObjectsField("Tag")}


@base.VersionedObjectRegistry.register
class Instance(NovaObject):
    VERSION = "2.7"
    fields = {
        "uuid": fields.UUIDField(),
        "hostname": fields.StringField(),
        "vcpus": fields.IntegerField(),
        "flavor": fields.ObjectField("Flavor"),
        "tags": fields.ObjectField("TagList"),
        "launched_at": fields.DateTimeField(nullable=True),
        "deleted_at": fields.DateTimeField(nullable=True),
    }


def sample():
    """An Instance whose only change since loading is its hostname."""
    instance = Instance(
        uuid="8b5c3e8e-6a5f-4a0c-9a57-1f1e1a7c2b10",
        hostname="vm-0",
        vcpus=2,
        flavor=Flavor(flavorid="m1.small", memory_mb=2048, extra_specs={"hw:cpu_policy": "dedicated"}),
        tags=TagList(objects=[Tag(tag="web"), Tag(tag="prod")]),
        launched_at=datetime.datetime(2026, 11, 30, 12, 34, 56, tzinfo=datetime.timezone.utc),
        deleted_at=None,
    )
    instance.obj_reset_changes(recursive=True)
    instance.hostname = "vm-1"
    return instance


def plain(obj):
    """An object's fields as plain JSON, to compare with what Rust sent."""
    if isinstance(obj, base.VersionedObject):
        out = {"_name": obj.obj_name(), "_version": obj.VERSION}
        for name in obj.fields:
            if obj.obj_attr_is_set(name):
                out[name] = plain(getattr(obj, name))
        out["_changes"] = sorted(obj.obj_what_changed())
        return out
    if isinstance(obj, (list, tuple)):
        return [plain(o) for o in obj]
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, datetime.datetime):
        return obj.isoformat()
    return obj
