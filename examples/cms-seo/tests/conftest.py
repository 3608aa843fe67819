"""A real cms site with this plugin, signed in as its administrator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cms.testing import TestSite

import cms_seo


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[TestSite]:
    async with TestSite(plugins=[cms_seo], tmp_path=tmp_path) as test_site:
        await test_site.sign_in_as_admin()
        yield test_site
