{#
  Synaptic pathway without Brian2's spike queue where its structure allows (models/propagation/__init__.py).
  Mode 2 'dense': all-to-all in pre-major order, zero delays: each source's synapses are one row (a column
  for a 'post' pathway), run with affine source and target indices.  Mode 1 'direct': zero delays, any
  connectivity: each source's synapse list, ascending ids.  Mode 0 'queue': Brian2's synapses.cpp, verbatim.
  Sources in ascending order, synapses in ascending id: the order of Brian2's queue, so sums are unchanged.
#}
{% extends 'common_synapses.cpp' %}

{% set _non_synaptic = [] %}
{% for var in variables %}
    {% if variable_indices[var] not in ('_idx', '0') %}
        {# This is a trick to get around the scoping problem #}
        {% if _non_synaptic.append(1) %}{% endif %}
    {% endif %}
{% endfor %}

{% set _synapses = pathway.synapses %}
{% set _pre = _synapses.variables['_synaptic_pre'] %}
{% set _post = _synapses.variables['_synaptic_post'] %}
{% set _pre_start, _pre_stop = _synapses.source.start, _synapses.source.stop %}
{% set _post_start, _post_stop = _synapses.target.start, _synapses.target.stop %}
{% set _n_pre, _n_post = _pre_stop - _pre_start, _post_stop - _post_start %}
{% set _eventspace_variable = pathway.source.variables[pathway.eventspace_name] %}
{% set _delay = pathway.variables['delay'] %}
{% set _mode_function = '_brp_propagation_mode_' ~ pathway.name %}
{# the pathway code's reads of the source and target index of synapse _idx: the spiking source, an affine target #}
{% set _source_read = get_array_name(pathway.synapse_sources) ~ '[_idx]' %}
{% set _target_read = get_array_name(pathway.synapse_targets) ~ '[_idx]' %}
{% set _list_code = vector_code|map('replace', _source_read, '_source')|list %}
{% set _row_code = _list_code|map('replace', _target_read, '(_target_start + _k)')|list %}

{% block extra_headers %}
{{ super() }}
#include <fstream>
#include <string>
#include <vector>

namespace {
    int _brp_mode = -1;  // 0 queue, 1 direct, 2 dense; chosen once per run
    std::vector<int32_t> _brp_first;  // direct: synapses of source s are _brp_ids[_brp_first[s] .. _brp_first[s+1])
    std::vector<int32_t> _brp_ids;
    bool _brp_sorted = false;  // direct: synapses numbered source-major (_brp_ids[k] == k), ids not needed
}

int {{_mode_function}}()
{
    using namespace brian;
    if (_brp_mode >= 0)
        return _brp_mode;
    const std::vector<int32_t> &_pre = {{get_array_name(_pre, access_data=False)}};
    const std::vector<int32_t> &_post = {{get_array_name(_post, access_data=False)}};
    const std::vector<{{c_data_type(_delay.dtype)}}> &_delays = {{get_array_name(_delay, access_data=False)}};
    const size_t _n = _pre.size();
    bool _zero_delay = true;
    for (size_t _k = 0; _k < _delays.size(); _k++)
        _zero_delay = _zero_delay && _delays[_k] == 0;
    bool _dense = _zero_delay && _n == (size_t){{_n_pre}} * (size_t){{_n_post}} && _n > 0;
    for (size_t _k = 0; _dense && _k < _n; _k++)
        _dense = _pre[_k] == {{_pre_start}} + (int32_t)(_k / {{_n_post}}) && _post[_k] == {{_post_start}} + (int32_t)(_k % {{_n_post}});
    _brp_mode = _dense ? 2 : (_zero_delay ? 1 : 0);
    if (_brp_mode == 1)
    {
        const std::vector<int32_t> &_sources = {{get_array_name(pathway.synapse_sources, access_data=False)}};
        const int32_t _start = {{pathway.source.start}};
        _brp_first.assign({{pathway.source.stop - pathway.source.start}} + 1, 0);
        for (size_t _k = 0; _k < _n; _k++)
            _brp_first[_sources[_k] - _start + 1]++;
        for (size_t _s = 1; _s < _brp_first.size(); _s++)
            _brp_first[_s] += _brp_first[_s - 1];
        std::vector<int32_t> _next(_brp_first.begin(), _brp_first.end() - 1);
        _brp_ids.resize(_n);
        for (size_t _k = 0; _k < _n; _k++)
            _brp_ids[_next[_sources[_k] - _start]++] = (int32_t)_k;
        _brp_sorted = true;
        for (size_t _k = 0; _brp_sorted && _k < _n; _k++)
            _brp_sorted = _brp_ids[_k] == (int32_t)_k;
    }
    static const char *_names[] = {"queue", "direct", "dense"};
    std::ofstream _report((results_dir + "propagation_{{pathway.name}}.txt").c_str());
    _report << _names[_brp_mode] << std::endl;
    return _brp_mode;
}
{% endblock %}

{% block maincode %}

    // This is only needed for the _debugmsg function below
    {# USES_VARIABLES { _synaptic_pre } #}

    // scalar code
    const size_t _vectorisation_idx = -1;
    {{scalar_code|autoindent}}

    const int _mode = {{_mode_function}}();
    if (_mode > 0)
    {
        // the source's events of this step, ascending; those of a subgroup source lie in [start, stop)
        const int32_t * const _events = {{get_array_name(_eventspace_variable, access_data=False)}};
        const int32_t _n_events = _events[{{_eventspace_variable.size - 1}}];
        for (int32_t _e = 0; _e < _n_events; _e++)
        {
            const int32_t _source = _events[_e];
            if (_source < {{pathway.source.start}} || _source >= {{pathway.source.stop}})
                continue;
            if (_mode == 2)
            {
                {% if pathway.prepost == 'pre' %}
                const int32_t _target_start = {{_post_start}};
                const size_t _row = (size_t)(_source - {{_pre_start}}) * {{_n_post}};
                for (int32_t _k = 0; _k < {{_n_post}}; _k++)
                {
                    const size_t _idx = _row + _k;
                {% else %}
                const int32_t _target_start = {{_pre_start}};
                const size_t _column = (size_t)(_source - {{_post_start}});
                for (int32_t _k = 0; _k < {{_n_pre}}; _k++)
                {
                    const size_t _idx = _column + (size_t)_k * {{_n_post}};
                {% endif %}
                    const size_t _vectorisation_idx = _idx;
                    {{_row_code|autoindent}}
                }
            }
            else
            {
                const int32_t _relative = _source - {{pathway.source.start}};
                for (int32_t _s = _brp_first[_relative]; _s < _brp_first[_relative + 1]; _s++)
                {
                    const size_t _idx = _brp_sorted ? (size_t)_s : (size_t)_brp_ids[_s];
                    const size_t _vectorisation_idx = _idx;
                    {{_list_code|autoindent}}
                }
            }
        }
    }
    else
    {{ openmp_pragma('parallel') }}
    {
    std::vector<int> *_spiking_synapses = {{pathway.name}}.peek();
    const int _num_spiking_synapses = _spiking_synapses->size();

    {% if _non_synaptic %}
    {{ openmp_pragma('master') }}
    {
        for(int _spiking_synapse_idx=0;
            _spiking_synapse_idx<_num_spiking_synapses;
            _spiking_synapse_idx++)
        {
            const size_t _idx = (*_spiking_synapses)[_spiking_synapse_idx];
            const size_t _vectorisation_idx = _idx;
            {{vector_code|autoindent}}
        }
    }
    {% else %}
    {{ openmp_pragma('static') }}
    for(int _spiking_synapse_idx=0;
        _spiking_synapse_idx<_num_spiking_synapses;
        _spiking_synapse_idx++)
    {
        const size_t _idx = (*_spiking_synapses)[_spiking_synapse_idx];
        const size_t _vectorisation_idx = _idx;
        {{vector_code|autoindent}}
    }

    {% endif %}
    }
{% endblock %}


{% block extra_functions_cpp %}
void _debugmsg_{{codeobj_name}}()
{
    using namespace brian;
    std::cout << "Number of synapses: " << {{_dynamic__synaptic_pre}}.size() << endl;
}
{% endblock %}

{% block extra_functions_h %}
void _debugmsg_{{codeobj_name}}();
{% endblock %}

{% macro main_finalise() -%}
#ifdef DEBUG
_debugmsg_{{codeobj_name}}();
#endif
{% endmacro %}
