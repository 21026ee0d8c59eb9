/*
 * devstack: minimal stand-in for the analysis components the Elasticsearch
 * security index needs.
 *
 * Why: the Elasticsearch integ-test zip on Maven Central has no
 * `analysis-common` module.  The `.security` system index (native-realm users,
 * API keys, roles) declares the analyzer
 *     email = tokenizer uax_url_email + filters [pattern_capture "email", lowercase, unique]
 * and its creation fails with
 *     illegal_argument_exception: Unknown filter type [pattern_capture] for [email]
 * so `POST /_security/user/...` and `POST /_security/api_key` answer 400.
 * This plugin registers exactly the missing names on top of Lucene classes that
 * ship in the zip's lib/ (lucene-analysis-common).  It only affects how the
 * `email` field of security documents is tokenised.  Test use only.
 *
 * Compiled by devstack with javac against <es-home>/lib/* at fetch time.
 */
package devstack.shim;

import org.apache.lucene.analysis.CharArraySet;
import org.apache.lucene.analysis.TokenFilter;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.email.UAX29URLEmailTokenizer;
import org.apache.lucene.analysis.pattern.PatternCaptureGroupTokenFilter;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.elasticsearch.index.analysis.TokenFilterFactory;
import org.elasticsearch.index.analysis.TokenizerFactory;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.elasticsearch.plugins.AnalysisPlugin;
import org.elasticsearch.plugins.Plugin;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

public class DevstackAnalysisShim extends Plugin implements AnalysisPlugin {

    private static TokenFilterFactory filter(String name, java.util.function.UnaryOperator<TokenStream> f) {
        return new TokenFilterFactory() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public TokenStream create(TokenStream in) {
                return f.apply(in);
            }
        };
    }

    @Override
    public Map<String, AnalysisProvider<TokenFilterFactory>> getTokenFilters() {
        AnalysisProvider<TokenFilterFactory> patternCapture = (indexSettings, env, name, settings) -> {
            List<String> raw = settings.getAsList("patterns");
            Pattern[] patterns = new Pattern[raw.size()];
            for (int i = 0; i < patterns.length; i++) {
                patterns[i] = Pattern.compile(raw.get(i));
            }
            boolean preserve = settings.getAsBoolean("preserve_original", true);
            return filter(name, in -> new PatternCaptureGroupTokenFilter(in, preserve, patterns));
        };
        AnalysisProvider<TokenFilterFactory> unique = (indexSettings, env, name, settings) -> filter(name, UniqueFilter::new);
        return Map.of("pattern_capture", AnalysisPlugin.requiresAnalysisSettings(patternCapture), "unique", unique);
    }

    @Override
    public Map<String, AnalysisProvider<TokenizerFactory>> getTokenizers() {
        AnalysisProvider<TokenizerFactory> uax = (indexSettings, env, name, settings) -> TokenizerFactory.newFactory(
            name,
            UAX29URLEmailTokenizer::new
        );
        return Map.of("uax_url_email", uax);
    }

    /** Drops tokens already seen earlier in the stream (like the `unique` filter of analysis-common). */
    static final class UniqueFilter extends TokenFilter {
        private final CharTermAttribute term = addAttribute(CharTermAttribute.class);
        private final CharArraySet seen = new CharArraySet(8, false);

        UniqueFilter(TokenStream in) {
            super(in);
        }

        @Override
        public boolean incrementToken() throws IOException {
            while (input.incrementToken()) {
                if (seen.contains(term.buffer(), 0, term.length()) == false) {
                    char[] copy = new char[term.length()];
                    System.arraycopy(term.buffer(), 0, copy, 0, copy.length);
                    seen.add(copy);
                    return true;
                }
            }
            return false;
        }

        @Override
        public void reset() throws IOException {
            super.reset();
            seen.clear();
        }
    }
}
