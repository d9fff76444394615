"""POSIX access control lists on Linux, read and written through their extended attribute.

The exchange gives each released feedback file to exactly one student: the file is private to
the instructor (0600) plus one entry "user <student>: read" (deploy/exchange.py). The owner of
a file may set that entry without root. There is no `setfacl` in a minimal image, so the ACL
is encoded here, in the kernel's binary format (``system.posix_acl_access``: a little-endian
u32 version 2, then one (u16 tag, u16 perm, u32 id) entry per line of ``getfacl``'s output).

A file system without ACLs (some NFS mounts) raises ``OSError(EOPNOTSUPP)``: see
:func:`supported`.
"""

from __future__ import annotations

import errno
import os
import stat
import struct

XATTR = "system.posix_acl_access"
VERSION = 2
USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
UNDEFINED_ID = 0xFFFFFFFF
READ, WRITE, EXECUTE = 4, 2, 1
_ENTRY = struct.Struct("<HHI")


def read(path: str) -> list[tuple[int, int, int]]:
    """The ACL of ``path`` as sorted ``(tag, perm, id)`` entries; the mode's three entries when it has none."""
    try:
        raw = os.getxattr(path, XATTR, follow_symlinks=False)
    except OSError as exc:
        if exc.errno != errno.ENODATA:
            raise
        mode = os.lstat(path).st_mode
        return [
            (USER_OBJ, (mode >> 6) & 7, UNDEFINED_ID),
            (GROUP_OBJ, (mode >> 3) & 7, UNDEFINED_ID),
            (OTHER, mode & 7, UNDEFINED_ID),
        ]
    (version,) = struct.unpack_from("<I", raw)
    if version != VERSION:
        raise ValueError(f"{path}: ACL version {version}, expected {VERSION}")
    return sorted(_ENTRY.iter_unpack(raw[4:]))


def write(path: str, entries) -> None:
    """Set the ACL of ``path`` to ``entries`` (a mask is computed; without named entries the ACL
    is removed and the mode alone carries the owner, group and other permissions)."""
    base = {tag: perm for tag, perm, _ in entries if tag in (USER_OBJ, GROUP_OBJ, OTHER)}
    named = sorted({(tag, perm, uid) for tag, perm, uid in entries if tag in (USER, GROUP)})
    if not named:
        try:
            os.removexattr(path, XATTR, follow_symlinks=False)
        except OSError as exc:
            if exc.errno != errno.ENODATA:
                raise
        mode = stat.S_IMODE(os.lstat(path).st_mode) & ~0o777
        os.chmod(path, mode | base[USER_OBJ] << 6 | base[GROUP_OBJ] << 3 | base[OTHER])
        return
    mask = base[GROUP_OBJ]
    for _, perm, _ in named:
        mask |= perm
    full = sorted(
        [(USER_OBJ, base[USER_OBJ], UNDEFINED_ID), (GROUP_OBJ, base[GROUP_OBJ], UNDEFINED_ID)]
        + [(MASK, mask, UNDEFINED_ID), (OTHER, base[OTHER], UNDEFINED_ID)]
        + named
    )
    raw = struct.pack("<I", VERSION) + b"".join(_ENTRY.pack(*e) for e in full)
    os.setxattr(path, XATTR, raw, follow_symlinks=False)


def grant_user(path: str, uid: int, perm: int) -> None:
    """Add (or replace) the entry "user ``uid``: ``perm``" of ``path``'s ACL."""
    _grant(path, USER, uid, perm)


def grant_group(path: str, gid: int, perm: int) -> None:
    """Add (or replace) the entry "group ``gid``: ``perm``" (the owner may name any group)."""
    _grant(path, GROUP, gid, perm)


def _grant(path: str, tag: int, ident: int, perm: int) -> None:
    entries = [e for e in read(path) if not (e[0] == tag and e[2] == ident) and e[0] != MASK]
    write(path, [*entries, (tag, perm, ident)])


def revoke_user(path: str, uid: int) -> None:
    """Remove the entry of user ``uid`` from ``path``'s ACL (nothing else changes)."""
    entries = read(path)
    if any(tag == USER and ident == uid for tag, _, ident in entries):
        write(path, [e for e in entries if not (e[0] == USER and e[2] == uid) and e[0] != MASK])


def user_entries(path: str) -> dict[int, int]:
    """{uid: perm} of the named-user entries of ``path``'s ACL."""
    return {ident: perm for tag, perm, ident in read(path) if tag == USER}


def supported(path: str) -> bool:
    """Whether the file system of ``path`` stores ACLs."""
    try:
        os.getxattr(path, XATTR, follow_symlinks=False)
    except OSError as exc:
        return exc.errno == errno.ENODATA
    return True
