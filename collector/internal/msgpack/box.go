package msgpack

func (d *Decoder) boxStr(s string) any {
	if !d.ReuseValues {
		return s
	}
	return d.boxes.String(s)
}

func (d *Decoder) boxInt(i int64) any {
	if !d.ReuseValues {
		return i
	}
	return d.boxes.Int64(i)
}

func (d *Decoder) boxFloat(f float64) any {
	if !d.ReuseValues {
		return f
	}
	return d.boxes.Float64(f)
}

// newMap is the map of a nested object, from the reused ones with
// ReuseValues.
func (d *Decoder) newMap(n int) map[string]any {
	if !d.ReuseValues {
		return make(map[string]any, n)
	}
	return d.boxes.Map(n)
}
