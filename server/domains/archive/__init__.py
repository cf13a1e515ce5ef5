"""The customer archive (客户档案, issue 14): a site's devices imported from a spreadsheet, and the look-ups."""
