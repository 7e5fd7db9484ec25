"""`--precision auto`: fp16 where parity holds, fp32 only for the ops parity proves need it.

`search.find_fp32_ops` runs the loop (localise the divergence, keep its region in fp32,
reconvert, check parity again); `selectable` names ops the way coremltools' op_selector sees
them; `regions` decides which ops one divergence asks for; `report` is the outcome as data;
`stage` plugs it into the conversion pipeline.
"""
