"""Implicit neural representations: coordinate networks that map (x, y) to RGB."""

from inrdeblur.inr.factory import build_inr
from inrdeblur.inr.siren import Siren

__all__ = ["Siren", "build_inr"]
