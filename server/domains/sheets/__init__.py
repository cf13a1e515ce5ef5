"""Printable sheets (issue 14): the 定期维护单 and the 技术服务联络单 as PDF."""
